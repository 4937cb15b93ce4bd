"""XPT v5, Dataset-JSON 1.1 and define.xml 2.1 output."""
