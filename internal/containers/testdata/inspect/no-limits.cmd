docker run -d --name no-limits -u 1000:1000 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --read-only --security-opt no-new-privileges hardend-test/busybox sleep 600
