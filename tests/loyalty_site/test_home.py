import pytest


@pytest.mark.django_db
def test_home_speaks_german_by_default_and_links_the_ways_in(client):
    response = client.get("/")
    assert response.status_code == 200
    html = response.content.decode()
    assert '<html lang="de">' in html
    assert 'href="/admin/"' in html
    assert 'href="/api/docs/"' in html


@pytest.mark.django_db
def test_home_in_english_under_en_prefix(client):
    response = client.get("/en/")
    assert response.status_code == 200
    assert '<html lang="en">' in response.content.decode()
