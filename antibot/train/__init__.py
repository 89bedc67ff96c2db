"""Offline training and evaluation of the shipped bot model (needs the ``train`` extra).

* :mod:`.dataset` replays simulated traffic through the real feature pipeline and a real Redis;
* :mod:`.train` fits scikit-learn gradient-boosted trees and exports them to the JSON format of
  :mod:`antibot.detect.model`;
* :mod:`.evaluate` holds out whole attack families and legitimate profiles and scores the full
  verdict path (model + thresholds + rules);
* :mod:`.card` writes the model card; :mod:`.cli` is ``antibot train`` / ``antibot evaluate``.
"""
