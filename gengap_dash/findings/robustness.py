"""Sentences of the robustness view's findings (``analysis/robustness/findings.py``), the
names of the corruptions and perturbations, and the augmentation each one suggests."""

from __future__ import annotations

from gengap_dash.findings.model import Finding
from gengap_dash.findings.render import sentence
from gengap_dash.findings.words import interval, percent, plural, points, ratio, significant

CORRUPTION_LABELS: dict[str, str] = {
    "clean": "clean data",
    "gaussian_noise": "Gaussian noise",
    "shot_noise": "shot noise",
    "gaussian_blur": "Gaussian blur",
    "motion_blur": "motion blur",
    "contrast": "low contrast",
    "brightness": "brightness",
    "jpeg": "JPEG compression",
    "pixelate": "pixelation",
    "rotate": "rotation",
    "noise": "Gaussian noise",
    "missing": "missing values (mean-imputed)",
    "quantile_shift": "a quantile shift",
}
"""How each corruption (images) and perturbation (tabular) is named in sentences."""

CORRUPTION_TITLES: dict[str, str] = {
    **{name: label[:1].upper() + label[1:] for name, label in CORRUPTION_LABELS.items()},
    "quantile_shift": "Quantile shift",
}
"""The same names for legends and table cells."""

AUGMENTATION: dict[str, str] = {
    "gaussian_noise": "noise",
    "shot_noise": "noise",
    "gaussian_blur": "blur",
    "motion_blur": "blur (including motion blur)",
    "contrast": "contrast and brightness jitter",
    "brightness": "brightness and contrast jitter",
    "jpeg": "JPEG re-compression",
    "pixelate": "down- and up-scaling",
    "rotate": "random rotations",
    "noise": "feature noise",
    "missing": "randomly masked (imputed) values",
    "quantile_shift": "shifted feature values",
}
"""What to augment training with when a real split looks like the corruption."""


def corruption_name(name: str) -> str:
    return CORRUPTION_LABELS.get(name, name.replace("_", " "))


def corruption_title(name: str) -> str:
    return CORRUPTION_TITLES.get(name, name.replace("_", " "))


def condition_name(name: str, severity: int) -> str:
    """``"Gaussian blur at severity 2"`` (``"clean data"`` for severity 0)."""
    if severity == 0 or name == "clean":
        return CORRUPTION_LABELS["clean"]
    return f"{corruption_name(name)} at severity {severity}"


def _what(kind: str) -> str:
    return "corruption" if kind == "image" else "perturbation"


@sentence("robustness.summary")
def _summary(finding: Finding) -> str:
    facts = finding.facts
    bounds = interval(finding.low, finding.high, unit="points")
    drop = f"{points(finding.value, signed=False)} {bounds}".strip()
    what = plural(facts["n_corruptions"], _what(facts["kind"]))
    text = (
        f"Over {what} at 5 severities, accuracy on {finding.split} falls by {drop} on average "
        f"from {percent(facts['clean_accuracy'])}"
    )
    if facts.get("mce") is not None:
        mce_bounds = interval(facts["mce_low"], facts["mce_high"], digits=2)
        text += (
            f"; the model errs {ratio(facts['mce'])} as often as on clean data (mean corruption "
            f"error {significant(facts['mce'], digits=3)} {mce_bounds}".rstrip()
            + ", relative to the model's own clean error)"
        )
    if finding.reason == "large_mean_drop":
        return text + ": the model breaks under common corruptions that accuracy alone hides."
    return text + "."


@sentence("robustness.weakest")
def _weakest(finding: Finding) -> str:
    facts = finding.facts
    name = corruption_name(facts["corruption"])
    drop = points(finding.value, signed=False)
    text = f"The model is most fragile to {name}: accuracy falls by {drop} on average"
    if facts.get("breaking_severity") is not None:
        text += (
            f", by {points(finding.threshold, signed=False, digits=0)} or more from severity "
            f"{facts['breaking_severity']} on (down to {percent(facts['worst_accuracy'])} at "
            "worst)"
        )
    best = corruption_name(facts["best_corruption"])
    return text + f"; it is least hurt by {best} ({points(facts['best_drop'], signed=False)})."


@sentence("robustness.calibration")
def _calibration(finding: Finding) -> str:
    facts = finding.facts
    where = condition_name(facts["corruption"], facts["severity"])
    bounds = interval(finding.low, finding.high, unit="percent")
    if finding.reason == "ece_rises":
        return (
            (
                f"Under {where} the model stays confident while it errs: ECE rises from "
                f"{percent(facts['clean_ece'])} on clean data to {percent(finding.value)} {bounds} "
                f"(accuracy {percent(facts['accuracy'])}); its confidence cannot be trusted on "
                "corrupted inputs."
            )
            .replace(" (accuracy", " (accuracy")
            .replace("  ", " ")
        )
    return (
        f"Calibration holds under corruption: the worst ECE, under {where}, is "
        f"{percent(finding.value)} against {percent(facts['clean_ece'])} on clean data."
    )


@sentence("robustness.bridge")
def _bridge(finding: Finding) -> str:
    facts = finding.facts
    split = finding.split
    clean = significant(facts["clean_mmd2"], digits=2)
    if finding.reason == "like_clean":
        return (
            f"{split} looks most like clean {finding.reference} data (MMD² {clean}): no "
            f"{_what(facts['kind'])} explains its shift."
        )
    best = condition_name(facts["corruption"], facts["severity"])
    if finding.reason == "indistinct":
        return (
            f"{split} cannot be told from clean {finding.reference} data by MMD² on "
            f"{plural(facts['n_split'], 'row')} (MMD² {clean}, at or below 0); the closest "
            f"{_what(facts['kind'])} is {best}, but the bridge has nothing to explain here."
        )
    text = f"{split} looks most like {best} (MMD² {significant(finding.value, digits=2)}"
    if facts.get("runner_up"):
        runner = condition_name(facts["runner_up"], facts["runner_up_severity"])
        text += f" vs {significant(facts['runner_up_mmd2'], digits=2)} for the next, {runner}"
    text += f"; {clean} for clean {finding.reference})"
    advice = AUGMENTATION.get(facts["corruption"], corruption_name(facts["corruption"]))
    if finding.reason == "match":
        return text + f": augment training with {advice}."
    return (
        text + f": the resemblance is weak (less than half the distance to clean data is "
        f"explained), so augmenting with {advice} may help only partly."
    )


@sentence("robustness.feature_sensitivity")
def _sensitivity(finding: Finding) -> str:
    facts = finding.facts
    perturbation = corruption_name(facts["perturbation"])
    bounds = interval(finding.low, finding.high, unit="points")
    text = (
        f"The model is most sensitive to feature {facts['feature']}: {perturbation} at severity "
        f"{facts['severity']} in that feature alone costs {points(finding.value, signed=False)} "
        f"of accuracy on {finding.split} {bounds}"
    ).rstrip()
    others = [f"{item['feature']} ({points(item['drop'], signed=False)})" for item in facts["next"]]
    if others:
        text += f"; next: {', '.join(others)}"
    if finding.reason == "insensitive":
        return text + "; no single feature matters much."
    return text + "."
