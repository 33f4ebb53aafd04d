# wait_for NAME SECONDS COMMAND...: run COMMAND until it succeeds, or fail after SECONDS.
wait_for() {
  local name=$1 seconds=$2; shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    if [ $SECONDS -ge $deadline ]; then
      echo "$name did not come up within ${seconds}s" >&2
      return 1
    fi
    sleep 0.5
  done
}
