"""Few-shot meta-learning: episodes, MAML / first-order MAML, ProtoNet, the meta-trainer.

* :mod:`.episodes` — class-disjoint splits and the ``n``-way ``k``-shot sampler;
* :mod:`.maml` — inner adaptation on ``torch.func.functional_call`` and the MAML loss
  (with ANIL, Proto-MAML / zero heads and MAML++'s multi-step loss);
* :mod:`.inner_lr` — learnt inner rates (MAML++'s LSLR, Meta-SGD);
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
from contrastkit.meta.inner_lr import InnerLR
from contrastkit.meta.maml import adapt, adapt_path, episode_losses, head_start, multi_step_weights
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
    "InnerLR",
    "MetaTrainer",
    "adapt",
    "adapt_path",
    "build_fewshot_data",
    "episode_input",
    "episode_losses",
    "head_start",
    "maml_accuracy",
    "mean_ci95",
    "multi_step_weights",
    "protonet_accuracy",
    "protonet_logits",
    "protonet_loss",
    "prototypes",
    "sbm_fewshot_data",
    "split_classes",
    "train_fewshot",
]
