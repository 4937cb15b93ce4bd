"""Study specs: the metadata model, its loader, and the study folders."""
