module github.com/micro-ts/micro-ts/faults/netem

go 1.22
