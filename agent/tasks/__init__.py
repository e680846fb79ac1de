"""Tasks: data, model, loss and metrics per workload, and the registry of names."""

from .base import Metric, Task
from .registry import get_task, register, task_help, task_names

__all__ = ["Metric", "Task", "get_task", "register", "task_help", "task_names"]
