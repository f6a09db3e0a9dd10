"""Few-shot meta-learning: episodes, MAML / first-order MAML, ProtoNet, the meta-trainer.

* :mod:`.episodes` — class-disjoint splits and the ``n``-way ``k``-shot sampler;
* :mod:`.maml` — inner adaptation on ``torch.func.functional_call`` and the MAML loss;
* :mod:`.protonet` — prototypes and their logits;
* :mod:`.network` — the learner (MLP or GNN encoder, linear head) and episode inputs;
* :mod:`.fewshot_data`, :mod:`.wordnet_fewshot` — the SBM fixture and WordNet's
  lexicographer classes over MiniLM gloss features;
* :mod:`.evaluation` — per-episode accuracy, mean and 95 % interval;
* :mod:`.trainer`, :mod:`.run` — meta-training and a ``task.kind: fewshot`` run.
"""

from contrastkit.meta.episodes import ClassSplits, Episodes, EpisodeSampler, split_classes
from contrastkit.meta.evaluation import maml_accuracy, mean_ci95, protonet_accuracy
from contrastkit.meta.fewshot_data import FewShotData, sbm_fewshot_data
from contrastkit.meta.maml import adapt, episode_losses
from contrastkit.meta.network import EpisodeInput, FewShotNet, episode_input
from contrastkit.meta.protonet import protonet_logits, protonet_loss, prototypes
from contrastkit.meta.run import FewShotRun, build_fewshot_data, train_fewshot
from contrastkit.meta.trainer import MetaTrainer

__all__ = [
    "ClassSplits",
    "EpisodeInput",
    "EpisodeSampler",
    "Episodes",
    "FewShotData",
    "FewShotNet",
    "FewShotRun",
    "MetaTrainer",
    "adapt",
    "build_fewshot_data",
    "episode_input",
    "episode_losses",
    "maml_accuracy",
    "mean_ci95",
    "protonet_accuracy",
    "protonet_logits",
    "protonet_loss",
    "prototypes",
    "sbm_fewshot_data",
    "split_classes",
    "train_fewshot",
]
