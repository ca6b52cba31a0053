docker run -d --name writable-rootfs -u 1000:1000 --cap-drop=ALL --cap-add=NET_BIND_SERVICE --security-opt no-new-privileges --memory 64m --pids-limit 100 hardend-test/busybox sleep 600
