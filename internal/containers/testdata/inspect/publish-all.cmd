docker run -d --name publish-all -p 8080:80 hardend-test/busybox httpd -f -p 80 -h /www
