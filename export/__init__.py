"""The export layer: SAS XPT v5 with full metadata, Dataset-JSON 1.1 and define.xml 2.1, all driven by the spec.

    write_datasets(datasets, spec, out_dir)   every dataset as .xpt + .json, one define.xml per standard
    write_define(datasets, spec, standard, out_dir)
    read_dataset(path) / read_datasets(dir)   XPT or Dataset-JSON back into frames (+ metadata)
    convert_dataset_file(path, out)           one .xpt <-> Dataset-JSON file
    export.pieces                             the same files from a partitioned run's partitions: statistics per
                                              partition, combined, pieces per partition, assembled (its docstring)
"""

from cdiscflow.export.api import ExportResult, convert_dataset_file, json_header, write_datasets, write_define
from cdiscflow.export.meta import ColumnMeta, DatasetMeta
from cdiscflow.export.read import read_dataset, read_datasets

__all__ = ["ExportResult", "convert_dataset_file", "json_header", "write_datasets", "write_define", "ColumnMeta", "DatasetMeta",
           "read_dataset", "read_datasets"]
