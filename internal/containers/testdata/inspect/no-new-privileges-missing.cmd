docker run -d --name no-new-privileges-missing -u 1000:1000 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --read-only --memory 64m --pids-limit 100 hardend-test/busybox sleep 600
