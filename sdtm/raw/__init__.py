"""Reading raw EDC exports into raw forms: CSV/Parquet/SAS exports (`forms`), CDISC ODM 1.3 XML (`odm`), and the
collected date and time texts (`dates`) the mapping turns into ISO 8601."""
