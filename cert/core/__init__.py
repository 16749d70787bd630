"""cert/core"""
