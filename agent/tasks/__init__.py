"""Tasks: data, model, loss and metrics per workload, and the registry of names."""

from .base import Metric, Task
from .registry import (DATA_SCHEMES, get_task, is_task_name, parse_task_option, register, split_data_name, task_help,
                       task_names, task_slug)

__all__ = ["DATA_SCHEMES", "Metric", "Task", "get_task", "is_task_name", "parse_task_option", "register",
           "split_data_name", "task_help", "task_names", "task_slug"]
