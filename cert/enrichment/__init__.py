"""cert/enrichment"""
