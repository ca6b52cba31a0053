docker run -d --name image-user-root --cap-drop=ALL --cap-add=NET_BIND_SERVICE --read-only --security-opt no-new-privileges --memory 64m --pids-limit 100 hardend-test/busybox sleep 600
