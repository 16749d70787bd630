"""cert/detection"""
