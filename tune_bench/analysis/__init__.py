"""Experiment directories as a trials DataFrame (`frame`), its statistics (`stats`) and the
comparative tables as numbers (`tables`). The names callers use are re-exported here."""

from tune_bench.analysis.columns import (
    column,
    config_columns,
    device_of,
    numeric,
    stopped_early,
    trainer_of,
    with_final_metric,
)
from tune_bench.analysis.frame import STATES, load_experiments, load_history
from tune_bench.analysis.stats import (
    STANDARD_KEYS,
    best_trial,
    config_groups,
    rank,
    significance_text,
    summarize,
    varying,
    welch_test,
)
from tune_bench.analysis.tables import (
    BEST_RULE,
    SINGLE_RUNS,
    TABLES,
    Shown,
    Table,
    TableSpec,
    acc_columns,
    all_tables,
    best_config_per_dataset_model,
    best_models,
    best_per_configuration,
    cpu_gpu_pairs,
    cpu_vs_gpu,
    cross_method,
    errored_trials,
    method_of,
    state_counts,
    svm_best,
    svm_table,
    title,
    top_runs,
)
from tune_bench.labels import describe_config, fmt, label, ms, pct, sort_key

__all__ = [
    "BEST_RULE", "SINGLE_RUNS", "STANDARD_KEYS", "STATES", "TABLES", "Shown", "Table",
    "TableSpec", "acc_columns", "all_tables", "best_config_per_dataset_model", "best_models",
    "best_per_configuration", "best_trial", "column", "config_columns", "config_groups",
    "cpu_gpu_pairs", "cpu_vs_gpu", "cross_method", "describe_config", "device_of",
    "errored_trials", "fmt", "label", "load_experiments",
    "load_history", "method_of", "ms", "numeric", "pct", "rank", "significance_text",
    "sort_key", "state_counts", "stopped_early", "summarize", "svm_best", "svm_table", "title",
    "top_runs", "trainer_of", "varying", "welch_test", "with_final_metric",
]
