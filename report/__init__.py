"""The statisticians' analysis report computed from ADaM.

`build_report(spec, adam, out_dir) -> list[Path]` renders what the study's report.yaml declares (`spec`: the report
spec grammar) with one generic engine (`build`): summary and adverse-event tables (`tables`), Kaplan-Meier
analyses and plots (`tte`), and the side-by-side check of every linked published figure (`reproduce`).

The statistics and rendering core the report is assembled from (generic: any ADTTE/ADSL):

* `survival`    Kaplan-Meier fits, medians with Brookmeyer-Crowley and SPSS-style CIs, KM estimates at fixed
                times, numbers at risk, log-rank tests, reverse-KM follow-up, ADTTE -> arrays
* `proportions` Clopper-Pearson exact CIs and the paper's number formats (n (%), median (range), est (CI), p)
* `kmplot`      deterministic Kaplan-Meier PNGs with a numbers-at-risk table
* `html`        a self-contained HTML page (inline CSS) with tables (also written as CSV) and figures
"""

from cdiscflow.report.build import ReportResult, build_report, make_report
from cdiscflow.report.html import Figure, Section, Table, Text, write_html_report
from cdiscflow.report.kmplot import km_plot_png, plot_km
from cdiscflow.report.proportions import (clopper_pearson, format_estimate_ci, format_median_range, format_n_pct,
                                          format_pct, format_pvalue)
from cdiscflow.report.spec import ReportSpec, check_report_spec, load_report_spec
from cdiscflow.report.survival import (DAYS_PER_MONTH, KaplanMeier, LogRank, MedianCI, km_estimates, km_fit,
                                       km_median, logrank, logrank_pairwise, median_ci_brookmeyer_crowley,
                                       median_ci_spss, median_follow_up, numbers_at_risk, survival_summary,
                                       tte_arrays)

__all__ = [
    "DAYS_PER_MONTH", "Figure", "KaplanMeier", "LogRank", "MedianCI", "ReportResult", "ReportSpec", "Section",
    "Table", "Text", "build_report", "check_report_spec", "clopper_pearson", "format_estimate_ci",
    "format_median_range", "format_n_pct", "format_pct", "format_pvalue", "km_estimates", "km_fit", "km_median",
    "km_plot_png", "load_report_spec", "logrank", "logrank_pairwise", "make_report", "median_ci_brookmeyer_crowley",
    "median_ci_spss", "median_follow_up", "numbers_at_risk", "plot_km", "survival_summary", "tte_arrays",
    "write_html_report",
]
