"""Incident handling: cases promoted from alerts, observables, timeline, status, TLP and PAP."""
