
œ
;flytesnacksdevelopment"checkpoint.use_checkpoint*v1	container'0.1.0rust"Ø*(21@jseed"8
$
"
n_iterations
n_iterations

o0
o02î
ghcr.io/example/workflows:v1execute--inputs
{{.input}}--output-prefix{{.outputPrefix}}--checkpoint-path{{.checkpointOutputPrefix}}--prev-checkpoint{{.prevCheckpointPrefix}}"
1
	512Mi1Gi*
RUST_LOGinfo