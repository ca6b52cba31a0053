docker run -d --name hardened-named-user --cap-drop=ALL --cap-add=NET_BIND_SERVICE --read-only --security-opt no-new-privileges --memory 64m --pids-limit 100 -u app hardend-test/busybox sleep 600
