"""cert/detection/indicators"""
