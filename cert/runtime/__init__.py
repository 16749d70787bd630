"""cert/runtime"""
