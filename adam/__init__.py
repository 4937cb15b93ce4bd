"""SDTM to ADaM derivations (admiral style)."""
