docker run -d --name no-cap-drop -u 1000:1000 --read-only --security-opt no-new-privileges --memory 64m --pids-limit 100 hardend-test/busybox sleep 600
