"""Other projects' separators, re-implemented for inference only, scored in the same harness
as ours (:func:`sonomorph.eval.baselines.evaluate_separation`) and timed by the same
benchmark. Their weights are converted once, outside the package, to safetensors: nothing
here unpickles anything.

- :mod:`.spleeter`: Deezer's Spleeter 2-stem (vocals / accompaniment) U-Nets.
"""
