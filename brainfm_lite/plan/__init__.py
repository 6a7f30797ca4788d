"""What each chapter's runs cost at a profile, predicted on a CPU (``brainfm plan --profile NAME [--gpu GPU]``):
parameters, FLOPs per step and in all, weight and activation memory (measured on a real step), predicted time on a
GPU and the data simulation's time on the profile's workers, and whether each chapter fits a GPU and a time budget.

    >>> from brainfm_lite.plan import plan_profile, format_plan
    >>> print(format_plan(plan_profile(load_profile("colab"))))                          # doctest: +SKIP
"""

from brainfm_lite.plan.gpus import GPUS, HOST_SECONDS_PER_OPERATION
from brainfm_lite.plan.measure import StepCost, measure_step
from brainfm_lite.plan.planner import CHAPTER_BUDGETS, ChapterPlan, Plan, RunPlan, measure_steps, plan_profile
from brainfm_lite.plan.report import format_plan, write_plan_json
from brainfm_lite.plan.steps import INFERENCE_STEPS, TRAINING_STEPS, ModelStep

__all__ = [
    "CHAPTER_BUDGETS", "ChapterPlan", "GPUS", "HOST_SECONDS_PER_OPERATION", "INFERENCE_STEPS", "ModelStep", "Plan",
    "RunPlan", "StepCost", "TRAINING_STEPS", "format_plan", "measure_step", "measure_steps", "plan_profile",
    "write_plan_json",
]
