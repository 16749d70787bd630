"""cert/detection/yara"""
