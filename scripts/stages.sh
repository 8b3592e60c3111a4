# Shared by the training recipes (sourced, not run): the binary (GRM_BIN, to run a copy that a
# rebuild cannot replace mid-run), the default model, the run
# folder, and the two helpers every stage goes through.
#   stage NAME CMD...   runs CMD, printing its command line and wall time (the logs keep both)
#   resume CHECKPOINT   prints "--resume CHECKPOINT" when an unfinished stage left one
G=${GRM_BIN:-./.build/release/grm}
MODEL=weights/SmolLM2-135M-Instruct.Q4_1.gguf
R=${GRM_RUN:-runs/grm}
mkdir -p "$R"

stage() {
    local name=$1
    shift
    echo "== $name: $*"
    local start
    start=$(date +%s)
    "$@"
    echo "== $name took $(($(date +%s) - start)) s"
}
resume() { if [ -f "$1" ]; then echo "--resume $1"; fi; }
