"""The statisticians' analysis report computed from ADaM.

`build_report(spec, adam, out_dir) -> list[Path]` renders what the study's report.yaml declares (`specs.report`: the
report spec grammar, model and loader, metadata like the rest of the study spec) with one generic engine (`build`): summary and adverse-event tables (`tables`), Kaplan-Meier
analyses and plots (`tte`), and the side-by-side check of every linked published figure (`reproduce`).

The statistics and rendering core the report is assembled from (generic: any ADTTE/ADSL):

* `survival`    Kaplan-Meier fits, medians with Brookmeyer-Crowley and SPSS-style CIs, KM estimates at fixed
                times, numbers at risk, log-rank tests, reverse-KM follow-up, ADTTE -> arrays
* `proportions` Clopper-Pearson exact CIs and the paper's number formats (n (%), median (range), est (CI), p)
* `kmplot`      deterministic Kaplan-Meier PNGs with a numbers-at-risk table
* `html`        a self-contained HTML page (inline CSS) with tables (also written as CSV) and figures
"""

from importlib import import_module

# public name -> the module that defines it.  Imported on first use (PEP 562): the statistics and plotting
# libraries behind them (statsmodels, scipy, matplotlib) take seconds to import, and `check-spec` (run before every
# command) needs only the report spec.
_HOME = {
    **dict.fromkeys(("ReportResult", "build_report", "make_report"), "build"),
    **dict.fromkeys(("Figure", "Section", "Table", "Text", "write_html_report"), "html"),
    **dict.fromkeys(("report_frames", "report_inputs"), "inputs"),
    **dict.fromkeys(("km_plot_png", "plot_km"), "kmplot"),
    **dict.fromkeys(("clopper_pearson", "format_estimate_ci", "format_median_range", "format_n_pct", "format_pct",
                     "format_pvalue"), "proportions"),
    **dict.fromkeys(("ReportSpec", "check_report_spec", "load_report_spec"), "cdiscflow.specs.report"),  # metadata
    **dict.fromkeys(("DAYS_PER_MONTH", "KaplanMeier", "LogRank", "MedianCI", "km_estimates", "km_fit", "km_median",
                     "logrank", "logrank_pairwise", "median_ci_brookmeyer_crowley", "median_ci_spss",
                     "median_follow_up", "numbers_at_risk", "survival_summary", "tte_arrays"), "survival"),
}


def __getattr__(name: str):
    if name not in _HOME:
        raise AttributeError(f"module 'cdiscflow.report' has no attribute {name!r}")
    home = _HOME[name]
    value = getattr(import_module(home if "." in home else f"cdiscflow.report.{home}"), name)
    globals()[name] = value
    return value


__all__ = [
    "DAYS_PER_MONTH", "Figure", "KaplanMeier", "LogRank", "MedianCI", "ReportResult", "ReportSpec", "Section",
    "Table", "Text", "build_report", "check_report_spec", "clopper_pearson", "format_estimate_ci",
    "format_median_range", "format_n_pct", "format_pct", "format_pvalue", "km_estimates", "km_fit", "km_median",
    "km_plot_png", "load_report_spec", "logrank", "logrank_pairwise", "make_report", "median_ci_brookmeyer_crowley",
    "median_ci_spss", "median_follow_up", "numbers_at_risk", "plot_km", "report_frames", "report_inputs",
    "survival_summary", "tte_arrays",
    "write_html_report",
]
