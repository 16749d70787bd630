"""cert/incidents"""
