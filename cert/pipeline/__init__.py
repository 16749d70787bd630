"""cert/pipeline"""
