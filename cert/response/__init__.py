"""cert/response"""
