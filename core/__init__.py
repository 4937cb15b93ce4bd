"""Pieces every layer shares: errors, the findings table, atomic file output."""
