"""``hpo-agent devices``: this device's resources and the known device profiles."""

from __future__ import annotations

import json

import click


@click.command("devices")
@click.option("--json", "as_json", is_flag=True, help="Print JSON instead of text.")
@click.option("--profile", default=None, help="Show one profile in full.")
@click.option("--sample", "sample_s", type=click.FloatRange(0, 60), default=0.0,
              help="Also sample resources for this many seconds (1 Hz).")
def command(as_json, profile, sample_s):
    """Show this device (detected), its free memory, and the device profiles known to hpo-agent."""
    from ... import devices
    from . import UsageFailure

    if profile is not None:
        try:
            prof = devices.load_profile(profile)
        except ValueError as exc:
            raise UsageFailure(str(exc))
        click.echo(json.dumps(_plain(prof), indent=2, default=str))
        return
    info = devices.detect()
    out = {"detected": info.to_dict(), "profiles": [p.name for p in devices.list_profiles()]}
    if sample_s:
        with devices.ResourceMonitor(interval_s=1.0) as monitor:
            import time

            time.sleep(sample_s)
        out["sample"] = monitor.summary()
    if as_json:
        click.echo(json.dumps(out, indent=2, default=str))
        return
    d = out["detected"]
    click.echo(f"device:   {d.get('name')} ({d.get('kind')}, profile {d.get('profile')})")
    click.echo(f"memory:   {devices.format_bytes(d.get('free_memory_bytes') or 0)} free of "
               f"{devices.format_bytes(d.get('total_memory_bytes') or 0)}"
               + (" (unified CPU/GPU)" if d.get("unified_memory") else ""))
    click.echo(f"torch:    {d.get('torch_device')}    cpus: {d.get('cpu_count')}")
    if "sample" in out:
        for key, value in out["sample"].items():
            click.echo(f"  {key:<26} {value}")
    click.echo("profiles: " + ", ".join(out["profiles"]))


def _plain(obj):
    from dataclasses import asdict, is_dataclass

    return asdict(obj) if is_dataclass(obj) else dict(vars(obj))
