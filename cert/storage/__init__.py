"""cert/storage"""
