docker run -d --name default-cap-add-sys-admin --cap-add SYS_ADMIN hardend-test/busybox sleep 600
