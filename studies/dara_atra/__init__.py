"""The synthetic DARA-ATRA trial: its simulated raw EDC export (`cdiscflow simulate`, package `simulate`)."""
