docker run -d --name default hardend-test/busybox sleep 600
