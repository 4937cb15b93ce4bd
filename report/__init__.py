"""The statisticians' analysis report computed from ADaM."""
