"""Enrichment from local reference data (GeoIP / ASN)."""
