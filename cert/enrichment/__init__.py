"""Enrichment from local reference data: GeoIP / ASN, the Public Suffix List, the user agent regexes."""
