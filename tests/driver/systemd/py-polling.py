start_all()
machine.wait_for_unit("multi-user.target")
machine.succeed("touch /tmp/marker")


@polling_condition(seconds_interval=0)
def marker_present():
    "the marker file stays"
    machine.succeed("test -e /tmp/marker")


with marker_present:
    machine.succeed("echo holds")
    machine.succeed("rm /tmp/marker")
    machine.succeed("echo never reached")
