"""The synthetic DARA-ATRA raw EDC export."""
