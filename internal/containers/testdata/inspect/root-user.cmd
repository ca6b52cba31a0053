docker run -d --name root-user --cap-drop=ALL --cap-add=NET_BIND_SERVICE --read-only --security-opt no-new-privileges --memory 64m --pids-limit 100 -u 0:0 hardend-test/busybox sleep 600
