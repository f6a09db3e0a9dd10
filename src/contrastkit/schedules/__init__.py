"""Schedules: temperature annealing, loss-weight curves and curricula (all with state_dict)."""

from contrastkit.schedules.base import Scheduler
from contrastkit.schedules.curriculum import CurriculumScheduler
from contrastkit.schedules.difficulty import difficulty_weights, sample_by_difficulty
from contrastkit.schedules.functions import ExponentialDecay, Plateau, RampUp, anneal
from contrastkit.schedules.loss_weights import LossWeightScheduler
from contrastkit.schedules.stage import CurriculumStage, default_stages, linear_stages
from contrastkit.schedules.temperature import TemperatureScheduler

__all__ = [
    "CurriculumScheduler",
    "CurriculumStage",
    "ExponentialDecay",
    "LossWeightScheduler",
    "Plateau",
    "RampUp",
    "Scheduler",
    "TemperatureScheduler",
    "anneal",
    "default_stages",
    "difficulty_weights",
    "linear_stages",
    "sample_by_difficulty",
]
