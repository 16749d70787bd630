"""cert/constituency"""
