"""cert/accounts"""
